-- Where an app's backend signs a device-flow user in (`initiateLoginUri`): the device
-- verification page sends the user there with the code. NULL: not set up.
ALTER TABLE apps ADD COLUMN initiate_login_uri TEXT;
